"""What runs on the host: targets, the qemu/vng command, the KVM probe, the guest
processes, the run loop, matrix, bench, mutants, doctor and input checks."""
