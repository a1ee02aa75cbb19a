"""The native backend: modules as plain processes; development only, no TEE protection."""
