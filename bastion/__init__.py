"""Bastion: access governance for business apps that have no SSO of their own."""

__version__ = "0.1.0"
