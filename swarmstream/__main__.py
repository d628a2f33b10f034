from swarmstream.cli import main

raise SystemExit(main())
