from dmt.cli import main

raise SystemExit(main())
