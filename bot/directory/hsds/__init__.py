"""The service directory in the Open Referral Human Services Data Specification (HSDS 3.0), the
format organisations already exchange listings in: ``schema`` holds the vocabulary and the checks of
one field, ``exporting`` writes JSON or CSV tables, ``csv_tables`` lays service objects out as CSV
tables and joins them back, and ``importing`` reads a file and imports it all or nothing. Our safety
fields, which HSDS has no column for, travel as HSDS attributes of the taxonomy ``safe-harbour``
(need categories, confidential, may involve police or immigration, for children, LGBTQ+-affirming,
public address, free, source, verified by)."""
