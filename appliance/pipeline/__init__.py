"""The live pipeline: capture thread -> one-slot mailbox -> process thread -> OSC targets."""
