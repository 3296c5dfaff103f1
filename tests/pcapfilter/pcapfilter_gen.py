"""A seeded, grammar-based generator of pcap-filter expressions for differential tests.

It walks a weighted grammar of the filter language: primitives (protocols, hosts, nets,
ports and ranges, ether addresses, vlan/mpls/pppoe encapsulations, packet accessors and
arithmetic, broadcast/multicast, length tests, llc...) joined by and/or/not with
parentheses, bare identifiers that inherit the previous qualifiers (``host a or b``), and a
sprinkling of mistakes (out-of-range ports, unknown names, bad syntax) so error messages are
compared too.
"""

from __future__ import annotations

import random

PROTOS = ("ip ip6 arp rarp tcp udp icmp icmp6 sctp igmp igrp pim vrrp carp ah esp atalk "
          "aarp decnet lat sca moprc mopdl iso esis isis clnp stp ipx netbeui l1 l2 iih lsp "
          "snp csnp psnp").split()
COMMON = "ip ip6 arp tcp udp icmp icmp6 sctp".split()
HOSTS = ("10.0.0.1 192.168.1.10 1.2.3.4 127.0.0.1 255.255.255.255 0.0.0.0 10.1.2 172.16 "
         "localhost").split()
HOSTS6 = "::1 fe80::1 2001:db8::42 ::ffff:1.2.3.4 ::".split()
NETS = ("10.0.0.0/8", "192.168.0.0/16", "172.16.0.0/12", "10.1.2.0/24", "0.0.0.0/0",
        "1.2.3.4/32", "10", "192.168", "10.0.0.0/7", "10 mask 255.0.0.0",
        "192.168.1.0 mask 255.255.255.0", "loopback", "link-local", "127")
NETS6 = ("2001:db8::/32", "fe80::/10", "::/0", "::1/128", "2001:db8::/129", "fe80::1/64")
PORTS = ("22 53 80 443 0 65535 8080 http https domain ssh ftp ftp-data telnet smtp ntp "
         "bootps snmp 70000 nosuchport 0x50").split()
MACS = ("aa:bb:cc:dd:ee:ff 00:11:22:33:44:55 ff:ff:ff:ff:ff:ff 1:2:3:4:5:6 "
        "aa-bb-cc-dd-ee-ff 0011.2233.4455").split()
DIRS = ("src", "dst", "src or dst", "src and dst", "dst or src", "dst and src")
ACCESSORS = ("ip", "ip6", "tcp", "udp", "icmp", "ether", "link", "arp", "sctp", "igmp",
             "icmp6", "pim", "vrrp", "rarp")
NAMED = ("tcpflags tcp-syn tcp-ack tcp-fin tcp-rst tcp-push tcp-urg icmptype icmpcode "
         "icmp-echo icmp-echoreply icmp-unreach").split()
ETHER_PROTOS = ("\\ip", "\\arp", "\\ip6", "0x800", "0x86dd", "0x8100", "100", "\\rarp",
                "\\atalk", "\\ipx", "\\iso", "\\stp", "\\netbeui", "\\loopback", "\\aarp")
RELOPS = ("=", "==", "!=", ">", "<", ">=", "<=")
ARITH = ("+", "-", "*", "/", "&", "|", "<<", ">>", "%", "^")


class Gen:
    def __init__(self, seed: int, *, errors: float = 0.05, depth: int = 3,
                 linktype: str = "EN10MB"):
        self.r = random.Random(seed)
        self.errors = errors
        self.max_depth = depth
        self.linktype = linktype

    def num(self) -> str:
        r = self.r
        k = r.random()
        if k < 0.5:
            return str(r.choice((0, 1, 2, 3, 4, 6, 8, 12, 13, 14, 16, 17, 20, 23, 40, 64, 100,
                                 255, 1500, 65535)))
        if k < 0.7:
            return str(r.randrange(0, 300))
        if k < 0.85:
            return hex(r.randrange(0, 0x10000))
        if k < 0.95:
            return r.choice(NAMED)
        return str(r.randrange(0, 2**32))

    def arth(self, depth: int = 0) -> str:
        r = self.r
        k = r.random()
        if depth > 2 or k < 0.35:
            return self.num()
        if k < 0.7:
            acc = r.choice(ACCESSORS)
            idx = self.arth(depth + 1) if r.random() < 0.25 else str(r.randrange(0, 64))
            size = r.choice(("", "", ":1", ":2", ":4", ":2", ":4")) if r.random() < 0.98 else ":3"
            return f"{acc}[{idx}{size}]"
        if k < 0.77:
            return "len"
        if k < 0.85:
            return f"({self.arth(depth + 1)})"
        if k < 0.9:
            return f"-{self.arth(depth + 1)}"
        return f"{self.arth(depth + 1)} {r.choice(ARITH)} {self.arth(depth + 1)}"

    def qual_proto(self, choices=("", "", "", "ip ", "ip6 ", "arp ", "rarp ", "tcp ", "udp ",
                                  "sctp ", "ether ", "link ", "decnet ")) -> str:
        return self.r.choice(choices)

    def primitive(self) -> str:
        r = self.r
        ether = self.linktype == "EN10MB" or r.random() < 0.05
        k = r.randrange(100)
        if k < 14:
            return r.choice(PROTOS if r.random() < 0.3 else COMMON)
        if k < 28:
            d = r.choice(DIRS) + " " if r.random() < 0.4 else ""
            if r.random() < 0.75:
                p = self.qual_proto(("", "", "", "ip ", "arp ", "rarp "))
                h = r.choice(HOSTS)
            else:
                p = self.qual_proto(("", "", "ip6 "))
                h = r.choice(HOSTS6)
            form = r.random()
            if form < 0.6:
                return f"{p}{d}host {h}"
            if form < 0.8 and d:
                return f"{p}{d}{h}"
            return f"{d}host {h}"
        if k < 36:
            d = r.choice(DIRS) + " " if r.random() < 0.3 else ""
            if r.random() < 0.8:
                return f"{self.qual_proto(('', '', '', 'ip ', 'arp '))}{d}net {r.choice(NETS)}"
            return f"{self.qual_proto(('', '', 'ip6 '))}{d}net {r.choice(NETS6)}"
        if k < 50:
            d = r.choice(DIRS) + " " if r.random() < 0.4 else ""
            p = self.qual_proto(("", "", "tcp ", "udp ", "sctp "))
            if r.random() < 0.75:
                port = r.choice(PORTS) if p in ("", "tcp ") else str(r.randrange(0, 65536))
                return f"{p}{d}port {port}"
            a, b = r.randrange(0, 2000), r.randrange(0, 70000 if r.random() < 0.05 else 3000)
            rng = r.choice((f"{a}-{b}", "ftp-data-ssh", "http-https", f"{a}-{a}", "ssh-ftp"))
            return f"{p}{d}portrange {rng}"
        if k < 56 and ether:
            d = r.choice(("", "src ", "dst ", "src or dst ", "src and dst "))
            m = r.choice(MACS)
            return r.choice((f"ether {d}host {m}", f"ether {d}{m}", f"ether host {m}"))
        if k < 61 and ether:
            return r.choice(("ether broadcast", "ether multicast", "broadcast", "multicast",
                             "ip multicast", "ip6 multicast", "ip broadcast"))
        if k < 67:
            which = r.randrange(6)
            if which == 0:
                return "ether proto " + r.choice(ETHER_PROTOS)
            if which == 1:
                return "ip proto " + r.choice(("6", "17", "1", "\\tcp", "\\udp", "\\icmp",
                                              "50", "132", "255"))
            if which == 2:
                return "ip6 proto " + r.choice(("6", "17", "58", "\\tcp", "\\udp", "0"))
            if which == 3:
                return "proto " + r.choice(("6", "17", "\\tcp", "\\udp", "\\icmp"))
            if which == 4:
                return "iso proto " + r.choice(("\\esis", "\\isis", "\\clnp", "1"))
            return "isis proto " + r.choice(("15", "17", "20"))
        if k < 80:
            return f"{self.arth()} {r.choice(RELOPS)} {self.arth()}"
        if k < 84:
            return r.choice((f"greater {self.r.randrange(0, 2000)}",
                             f"less {self.r.randrange(0, 2000)}", f"len > {self.num()}",
                             f"len <= {self.num()}"))
        if k < 90 and (ether or r.random() < 0.1):
            return r.choice(("vlan", f"vlan {r.randrange(0, 4096)}", "mpls",
                             f"mpls {r.randrange(0, 1 << 20)}", "pppoes",
                             f"pppoes {r.randrange(0, 65536)}",
                             "pppoed"))
        if k < 93 and ether:
            return r.choice(("llc", "llc i", "llc s", "llc u", "llc rr", "llc ui", "llc rnr",
                             "llc xid"))
        if k < 95:
            return f"byte {r.randrange(0, 40)} {r.choice(('=', '<', '>'))} {r.randrange(0, 256)}"
        if k < 97 and (self.linktype.startswith("LINUX_SLL") or r.random() < 0.1):
            return r.choice(("inbound", "outbound", f"ifindex {r.randrange(1, 10)}"))
        return r.choice(("tcp src port 80 or 443", "host 10.0.0.1 or 10.0.0.2",
                         "port 80 or 443 or 8080", "src net 10.0.0.0/8 or 192.168.0.0/16",
                         "dst port 53 and not 5353", "ip host 1.1.1.1 or 2.2.2.2"))

    def error_expr(self) -> str:
        return self.r.choice(("tcp port 70000", "host nosuchhost", "port nosuch", "(tcp",
                              "tcp)", "ip and", "and ip", "not", "net 10.0.0.1/8",
                              "10.0.0.1", "ether host 1:2:3:4:5", "ip[1:3] = 1",
                              "tcp[0] / 0 = 1", "ip[0] << 40 = 1", "udp port http",
                              "vlan 5000", "mpls 2000000", "ip proto nosuch",
                              "host 1.2.3.4/24", "gateway foo", "tcp proto 6",
                              "portrange 1-70000", "08", "0x100000000", "ip6 host 1.2.3.4",
                              "ip host ::1", "src port 80 and", "arp proto 1",
                              "net ::1/200", "ip broadcast and ip6", "lane", "vpi 1",
                              "fisu", "sio 3", "on eth0", "type mgt", "dir tods",
                              "ip and not ip", "tcp and not tcp", "ether[0] = 1 and 1 = 2"))

    def expr(self, depth: int = 0) -> str:
        r = self.r
        if depth == 0 and r.random() < self.errors:
            return self.error_expr()
        if depth >= self.max_depth or r.random() < 0.35:
            return self.primitive()
        k = r.random()
        if k < 0.12:
            return f"not {self.expr(depth + 1)}" if r.random() < 0.7 else f"!{self.expr(depth + 1)}"
        if k < 0.22:
            return f"({self.expr(depth + 1)})"
        op = r.choice(("and", "or", "&&", "||", "and", "or"))
        return f"{self.expr(depth + 1)} {op} {self.expr(depth + 1)}"

    def corpus(self, n: int) -> list[str]:
        return [self.expr() for _ in range(n)]
