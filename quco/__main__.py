from quco.cli.main import main

main()
