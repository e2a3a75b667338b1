"""Teams and the people in them: roles, invitations, signing in, and who may do what."""
