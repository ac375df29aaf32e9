"""Outbound webhooks: an agency's endpoints, the events written for them in the transaction of
their cause, and their signed delivery (Standard Webhooks) by the workers."""
