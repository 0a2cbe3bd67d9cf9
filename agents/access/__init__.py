"""Who may talk to the broker and what they may do: TLS material, SCRAM principals, ACLs, client config."""
