"""What runs inside the guest: the in-guest runner and the pytest plugin."""
