# Runs a command whose words are given in hex (system/exec-runner.ts): each word is
# unpacked to its exact bytes and the program is exec'd with them, no shell. A program
# that cannot be started is reported as setpriv reports one, exit 127.
my @a = map { pack "H*", $_ } @ARGV;
exec { $a[0] } @a or do { print STDERR "setpriv: failed to execute $a[0]: $!\n"; exit 127 }
