"""Privacy: footage handed to others with the people in it made unrecognisable (`redact`)."""
