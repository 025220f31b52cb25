def with_tax(amount):
    """Cents with 20% tax; refunds (negative amounts) stay as they are."""
    return amount if amount < 0 else amount * 120 // 100
