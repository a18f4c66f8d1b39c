"""Landed record files that are not gateway logs: provider bills (`billing`), outcomes, revenue and GPU
capacity (`business`), read and judged the same way (`read`). Pure: bytes in, typed rows and rejections out."""
