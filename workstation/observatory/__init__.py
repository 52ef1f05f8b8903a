"""The observatory: coded incidents and the de-identified statistics released from them."""
