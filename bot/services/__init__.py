"""Services over the store: PAN bookings, mailbox tickets, e-mail delivery, feedback, agent
accounts, the review queue, and the runtime (loaded tree, préfecture and store of the server)."""
