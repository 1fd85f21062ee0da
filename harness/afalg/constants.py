"""AF_ALG numbers, defined here rather than taken from Python's socket module.

CPython exports ALG_SET_PUBKEY = 6, ALG_OP_SIGN = 2 and ALG_OP_VERIFY = 3 from a
never-merged akcipher API, and lacks ALG_SET_DRBG_ENTROPY and
ALG_SET_KEY_BY_KEY_SERIAL. The values below are include/uapi/linux/if_alg.h.
"""

import enum

AF_ALG = 38
SOL_ALG = 279
SOCK_SEQPACKET = 5


class AlgOpt(enum.IntEnum):
    """SOL_ALG option names; the same numbers serve as cmsg types."""

    SET_KEY = 1
    SET_IV = 2
    SET_OP = 3
    SET_AEAD_ASSOCLEN = 4
    SET_AEAD_AUTHSIZE = 5
    SET_DRBG_ENTROPY = 6
    SET_KEY_BY_KEY_SERIAL = 7


class AlgOp(enum.IntEnum):
    DECRYPT = 0
    ENCRYPT = 1


# socket(7) / linux/socket.h
MSG_OOB = 0x1
MSG_PEEK = 0x2
MSG_TRUNC = 0x20
MSG_DONTWAIT = 0x40
MSG_MORE = 0x8000

SO_SNDBUFFORCE = 32     # <asm-generic/socket.h>; not in Python's socket module
PROT_NONE = 0           # <sys/mman.h>; not in Python's mmap module
F_SETOWN_EX = 15        # <asm-generic/fcntl.h>; not in Python's fcntl module
F_OWNER_TID = 0

# fcntl.h / splice(2)
SPLICE_F_MOVE = 0x1
SPLICE_F_NONBLOCK = 0x2
SPLICE_F_MORE = 0x4
SPLICE_F_GIFT = 0x8

# struct sockaddr_alg: family(2) type[14] feat(4) mask(4) name[64]
SOCKADDR_ALG_SIZE = 88
SOCKADDR_ALG_NAME_OFFSET = 24
CRYPTO_ALG_KERN_DRIVER_ONLY = 0x1000

ALG_TYPES = ("hash", "skcipher", "aead", "rng")
