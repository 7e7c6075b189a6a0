"""What people read (措辞): English and Chinese words for the codes and numbers that rules/ hands out.

One module per feature (`tidal.py`). Must not decide anything or read state: each function turns a frozen record
into words, the same record always into the same words.
"""
