import sys

from finetune_sdk.cli.main import main

sys.exit(main())
