# For each path in @ARGV, a line "ID RO UUID PARENT RECEIVED GEN CGEN" ("-" for no
# UUID) or "! why" (btrfs/subvolume-info.ts). The path must be the subvolume itself: a folder
# (never opened otherwise: a FIFO would block), not a folder inside one (inode 256 is a
# subvolume's root), not a symbolic link (the name is checked, then the open handle
# against it). The offsets are the kernel's, the same on every Linux: a 504-byte
# struct; generation at 280, flags at 288 (bit 0: read-only), the three UUIDs from
# 296, otransid (the creation generation) at 352 (perl's Q reads in the machine's byte
# order). The ioctl's number, BTRFS_IOC_GET_SUBVOL_INFO, is the
# generic layout's here; subvolume-info.ts puts this architecture's in its place.
sub u { $_[0] =~ /[^\0]/ ? join("-", unpack("H8 H4 H4 H4 H12", $_[0])) : "-" }
for my $p (@ARGV) {
  my $b = "\0" x 504;
  my $h;
  my @l = lstat $p;
  if (!@l) { print "! $!\n"; next }
  if (-l _) { print "! not the subvolume itself (a symbolic link)\n"; next }
  if (!-d _ || $l[1] != 256) { print "! not a btrfs subvolume\n"; next }
  if (!open($h, "<", $p)) { print "! $!\n"; next }
  my @s = stat $h;
  if ($s[0] != $l[0] || $s[1] != $l[1]) { print "! not the subvolume itself (replaced while read)\n"; next }
  if (!ioctl($h, 0x81f8943c, $b)) { print "! BTRFS_IOC_GET_SUBVOL_INFO failed: $! (not btrfs, or a kernel before 4.18)\n"; next }
  my ($id, $gen, $fl, $u, $pu, $ru, $ot) = unpack("Q x256 x16 Q Q a16 a16 a16 x8 Q", $b);
  print join(" ", $id, $fl & 1, u($u), u($pu), u($ru), $gen, $ot), "\n"
}
