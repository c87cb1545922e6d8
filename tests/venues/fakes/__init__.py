"""Loopback fakes of the providers' servers, spoken to by the providers' real SDK clients."""
