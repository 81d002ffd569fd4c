"""Customer documents (DOMAIN.md 7): the PDF of each memo and invoice, and emailing it."""
