import sys

from entropy_lens.cli.main import main

sys.exit(main())
