import gc

from bot.cli.main import main

code = main()
# Done: Python's last garbage collection at exit would walk every object of Rasa, TensorFlow and
# the model (seconds for `serve`, `route`, `eval`); frozen, it skips them. Objects are still
# released as usual (files, connections). docs/testing.md
gc.freeze()
raise SystemExit(code)
