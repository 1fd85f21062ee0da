"""The AF_ALG client: sockets, control messages, constants, bounded calls,
/proc/crypto and the algorithm registry. A leaf: imports nothing else of the project."""
