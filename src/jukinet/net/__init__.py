"""The network spine: signed envelopes, PKI, outbox, delivery, transports."""
