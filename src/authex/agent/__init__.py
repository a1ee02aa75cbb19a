"""The node agent: untrusted router of ciphertext, loader of modules, runner of timers."""
