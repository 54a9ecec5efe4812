"""Site energy: sources (solar PV, battery, grid, fuel cell), dispatch policies, the 24 h forecast the scheduler
plans against, and accounting of kWh, cost and CO2 per machine, job, part, day and week."""
