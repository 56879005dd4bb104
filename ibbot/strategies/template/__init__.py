"""The starting point ``ibbot strategies new NAME`` copies: ``template.py``, a documented strategy
that trades (a channel breakout), and ``test_template.py``, its test.

The copies are named after NAME: each ``template`` becomes NAME and each ``Template`` its
CamelCase (``ibbot strategies new my_breakout`` writes ``MyBreakoutStrategy`` in
``strategies/my_breakout.py``). The files live here, inside ibbot, so that the linters, the type
checker and the test suite check what a new user starts from.
"""
