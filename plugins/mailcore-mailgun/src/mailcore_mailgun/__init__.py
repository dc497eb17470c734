"""mailcore-mailgun: deliver mailcore messages through the Mailgun Messages API."""
