"""mailcore-sendgrid: deliver mailcore messages through the SendGrid v3 Mail Send API."""
