"""Provisioning on site: discovery, claim, scripted and USB provisioning."""
