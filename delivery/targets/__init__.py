"""Delivery targets: one module per kind of receiver (open311, webhook, pull), built by `base.build_target`."""
