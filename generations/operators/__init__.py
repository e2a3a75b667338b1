"""The operators' pages: vendor accounts and their keys, and the jobs that need a person."""
