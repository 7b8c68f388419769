"""`mledojo.metrics`: only the `base` module is used by competitions' metric files."""
