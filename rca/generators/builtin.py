"""Imports every built-in generator module so that each registers itself."""
