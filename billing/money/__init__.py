"""The Billing pages: balance and statement, caps, credit grants and adjustments."""
