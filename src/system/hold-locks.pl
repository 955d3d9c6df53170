# Takes and holds every lock of a run (system/lock.ts): opens (creating) and locks each
# file named in @ARGV with flock(LOCK_EX | LOCK_NB) (6: the kernel's numbers, the same
# on every Linux; loading Fcntl would cost more than the locking), keeping every handle open; says
# "held" and waits for the end of stdin. The first lock someone else holds: its file on
# stderr, exit 75, and the exit drops the ones taken before it (all or none).
my @held;
for my $f (@ARGV) {
  open(my $h, ">>", $f) or die "$f: $!\n";
  flock($h, 6) or do { print STDERR "$f\n"; exit 75 };
  push @held, $h
}
$| = 1;
print "held\n";
1 while <STDIN>;
