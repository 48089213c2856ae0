"""What every service needs and none owns: config, database, migrations, errors, server bootstrap.

Imports no service code; nothing service-specific belongs here.
"""
