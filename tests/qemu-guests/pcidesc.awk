# Describe a PCI function from its config space, one "key value" line per
# fact, so that what a uvf device declares (host: uvf-lspci -xxx or -xxxx)
# and what a guest kernel sees (guest: od -t x1 of sysfs "config") can be
# compared line by line. Runs under busybox awk, mawk and gawk.
#
# Input: hex bytes separated by blanks, in config space order; a word
# ending in ":" (a dump's offset column) is skipped, so both
#   uvf-lspci -n -xxx SOCKET            and
#   od -A n -t x1 -v /sys/bus/pci/devices/BDF/config
# work as they are. Lines of other text are skipped.
#
# Output (values in the format of the sysfs files of the same name):
#   vendor 0x1de0 / device 0x0002 / class 0xff0000 / revision 0x01
#   subsystem_vendor 0x1de0 / subsystem_device 0x0002
#   irq_pin 1                       (0: none, 1-4: INTA-INTD)
#   barN_type io|mem32|mem64[-pref]  for each N in the variable bars
#                                    (awk -v bars="0 2": the BARs the device
#                                    has; an unassigned BAR reads 0, so the
#                                    config space cannot tell)
#   cap ID@OFF details              standard capabilities in chain order
#   ecap ID@OFF vN                  extended ones, when 4 KiB were given
#   config_size 256|4096            how many bytes were given
# Capability details: MSI vectors, 64-bit and per-vector masking; MSI-X
# table size, table and PBA BAR and offset; PM version and No_Soft_Reset;
# PCI Express version and whether FLR is offered; vendor specific length.
# A loop or an offset inside the header ends the walk with "cap-error".

function hexval(s,    i, c, v) {
	s = tolower(s)
	v = 0
	for (i = 1; i <= length(s); i++) {
		c = index("0123456789abcdef", substr(s, i, 1))
		if (c == 0)
			return -1
		v = v * 16 + c - 1
	}
	return v
}
function u8(o) { return (o in b) ? b[o] : 0 }
function u16(o) { return u8(o) + 256 * u8(o + 1) }
function u32(o) { return u16(o) + 65536 * u16(o + 2) }
# powers of two by hand: busybox awk may be built without its math library
function pow2(n,    r) { r = 1; while (n-- > 0) r *= 2; return r }
function bit(v, n) { return int(v / pow2(n)) % 2 }
function bits(v, lo, width) { return int(v / pow2(lo)) % pow2(width) }

{
	for (i = 1; i <= NF; i++) {
		if ($i ~ /:$/)
			continue
		if ($i !~ /^[0-9A-Fa-f][0-9A-Fa-f]$/)
			next # not a dump line
		b[n++] = hexval($i)
	}
}

END {
	if (n < 64) {
		print "error short-config " n
		exit 1
	}
	printf "vendor 0x%04x\n", u16(0)
	printf "device 0x%04x\n", u16(2)
	printf "class 0x%06x\n", u32(8) / 256
	printf "revision 0x%02x\n", u8(8)
	printf "subsystem_vendor 0x%04x\n", u16(44)
	printf "subsystem_device 0x%04x\n", u16(46)
	printf "irq_pin %d\n", u8(61)
	nb = split(bars, bar, " ")
	for (j = 1; j <= nb; j++) {
		i = bar[j] + 0
		v = u32(16 + 4 * i)
		if (bit(v, 0))
			printf "bar%d_type io\n", i
		else
			printf "bar%d_type %s%s\n", i, (bits(v, 1, 2) == 2) ? "mem64" : "mem32", bit(v, 3) ? "-pref" : ""
	}
	if (bit(u16(6), 4)) {
		p = u8(52) - u8(52) % 4
		walked = 0
		while (p != 0) {
			if (p < 64 || p > 252 || (p in seen) || walked++ > 48) {
				printf "cap-error bad-pointer@%02x\n", p
				break
			}
			seen[p] = 1
			id = u8(p)
			d = ""
			if (id == 1) {
				d = sprintf(" pm v%d nosoftrst=%d", bits(u16(p + 2), 0, 3), bit(u16(p + 4), 3))
			} else if (id == 5) {
				ctl = u16(p + 2)
				d = sprintf(" msi vectors=%d 64bit=%d maskable=%d", pow2(bits(ctl, 1, 3)), bit(ctl, 7), bit(ctl, 8))
			} else if (id == 9) {
				d = sprintf(" vendor len=%d", u8(p + 2))
			} else if (id == 16) {
				d = sprintf(" exp v%d flr=%d", bits(u16(p + 2), 0, 4), bit(u32(p + 4), 28))
			} else if (id == 17) {
				t = u32(p + 4)
				q = u32(p + 8)
				d = sprintf(" msix size=%d table=%d:0x%x pba=%d:0x%x", bits(u16(p + 2), 0, 11) + 1,
					    t % 8, t - t % 8, q % 8, q - q % 8)
			}
			printf "cap %02x@%02x%s\n", id, p, d
			p = u8(p + 1) - u8(p + 1) % 4
		}
	}
	if (n >= 4096) {
		p = 256
		walked = 0
		while (p != 0) {
			h = u32(p)
			# no extended capabilities: a zero header, or all ones
			if (h == 0 || h == 4294967295)
				break
			if (p < 256 || p > 4092 || (("e" p) in seen) || walked++ > 1000) {
				printf "ecap-error bad-pointer@%03x\n", p
				break
			}
			seen["e" p] = 1
			printf "ecap %04x@%03x v%d\n", h % 65536, p, bits(h, 16, 4)
			p = bits(h, 20, 12) - bits(h, 20, 12) % 4
		}
	}
	printf "config_size %d\n", (n >= 4096) ? 4096 : 256
}
