"""TEE backends behind one interface (tee/base.py); each kind in its own package, registered by
one line in authex/kinds.py."""
