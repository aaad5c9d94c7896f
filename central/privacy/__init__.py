"""Privacy at central: the central part of a data-subject erasure (`erasure`, `routes`) and its receipts (`schema`)."""
