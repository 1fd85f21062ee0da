"""The run model and its formats (KTAP, JUnit, KCIDB), merge, diff and the kernel-log
parser. A leaf: no pytest, no subprocess."""
