"""The matrix's harness: cases from the zoo, one isolated child process per cell, the checks a cell
runs on an export directory, and the row it returns (:mod:`modelexport.render.schema`)."""
