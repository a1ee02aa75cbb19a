"""TEE backends behind one interface (tee/base.py); each kind in its own package."""
