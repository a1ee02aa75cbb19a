"""The deployer: plan (pure), execute (concurrent, resumable), agent client and state store."""
