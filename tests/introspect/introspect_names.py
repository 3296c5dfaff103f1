"""Names of the objects the introspection tests create: unique per process, since test
workers run side by side and `show name X` must find exactly one."""

import os

PROG_NAME = f"intro_p{os.getpid() % 10**7}"
MAP_NAME = f"intro_m{os.getpid() % 10**7}"
