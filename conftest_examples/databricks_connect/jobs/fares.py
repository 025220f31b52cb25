def per_mile(fare, miles):
    """Fare per mile; None for a trip of no distance."""
    return None if not miles else fare / miles
