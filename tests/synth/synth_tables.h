// Data tables for mash-synth (mash_synth.cpp): names, nicknames, streets, postcode districts and
// keyboard neighbours. Everything here is generic; the combinations mash-synth makes are invented.
//
// Lists are whitespace-separated words; '_' stands for a space inside one entry ("Da_Silva").
// Within a list, earlier entries are drawn more often (Zipf-like weights by rank).
#pragma once

namespace synth {

// Name groups: a household's surname decides its group, and most of its forenames come from the
// same group. Forenames of the general group are split into traditional (mostly adults) and modern
// (mostly children).
enum Group : unsigned char { kGeneral = 0, kSouthAsian, kMuslim, kAfrican, kEastEuropean, kSouthEuropean, kEastAsian, kGroups };

// Forename pools: [0] general traditional, [1] general modern, then one per group kSouthAsian..
// kSouthEuropean (East Asian families mostly use general forenames in this model).
inline constexpr int kForenamePools = 7;

inline constexpr const char* kFemaleForenames[kForenamePools] = {
    // general, traditional
    "Sarah Elizabeth Emma Claire Rebecca Laura Louise Rachel Helen Nicola Catherine Jennifer Victoria "
    "Samantha Michelle Lisa Joanne Kelly Katherine Charlotte Hannah Gemma Natalie Stephanie Amanda "
    "Karen Julie Susan Deborah Tracey Donna Margaret Mary Patricia Alison Jane Anne Angela Christine "
    "Caroline Joanna Jacqueline Sharon Dawn Leanne Stacey Danielle Kerry Alexandra Abigail Eleanor "
    "Lucy Jessica Josephine Zoe Jodie Carly Siobhan Bernadette Maureen",
    // general, modern
    "Olivia Amelia Isla Ava Mia Ivy Lily Isabella Rosie Sophia Grace Freya Willow Florence Emily Ella "
    "Poppy Evie Elsie Sienna Daisy Harper Alice Matilda Phoebe Ruby Maya Millie Layla Esme Eliza Erin "
    "Luna Aria Chloe Scarlett Thea Imogen Orla Zara Mila Holly Niamh Aoife Ellie Darcie Bella Eva "
    "Hallie Ayla Lily-Mae Ellie-May Mary-Jane Zoë Chloé",
    // South Asian
    "Priya Anjali Pooja Sunita Neha Kavita Asha Meera Divya Simran Harpreet Jaspreet Manpreet Rani "
    "Deepa Nisha Shreya Anika Riya Isha Tara Leela Navdeep Komal",
    // Muslim (Pakistani, Bangladeshi, Somali, Arab)
    "Aisha Fatima Maryam Zainab Khadija Amina Noor Hafsa Sumaya Yasmin Samira Nadia Safiya Ayesha "
    "Hawa Fadumo Hodan Zahra Rukhsana Shabana Nasreen Farzana Tahmina Halima Sana Inaaya Aaliyah",
    // African (Nigerian, Ghanaian)
    "Chiamaka Adaeze Ngozi Folake Abimbola Yetunde Funmilayo Ama Akosua Abena Efua Nneka Temitope "
    "Blessing Precious Chioma",
    // East European (Polish, Romanian, Lithuanian)
    "Zofia Julia Maja Oliwia Natalia Katarzyna Agnieszka Magdalena Ioana Elena Andreea Kinga Monika "
    "Justyna Gabriela Małgorzata",
    // South European (Portuguese, Spanish, Italian)
    "Beatriz Inês Mariana Sofia Lucia Giulia Francesca Carmen Rosa Leonor",
};

inline constexpr const char* kMaleForenames[kForenamePools] = {
    // general, traditional
    "David John Michael Paul Mark James Andrew Richard Robert Christopher Stephen Peter Daniel "
    "William Anthony Matthew Simon Jonathan Gary Lee Craig Darren Wayne Dean Neil Martin Kevin Ian "
    "Philip Timothy Nicholas Edward Benjamin Samuel Joseph Alexander Patrick Gregory Kenneth Ronald "
    "Steven Jason Carl Stuart Shaun Scott Ryan Adam Luke Liam Nathan Jamie Ross Terence Declan Sean",
    // general, modern
    "Oliver George Noah Arthur Leo Harry Oscar Archie Henry Theodore Freddie Jack Charlie Finley Alfie "
    "Jacob Thomas Isaac Teddy Lucas Max Ethan Jude Reggie Rory Ezra Hugo Albie Arlo Louie Roman Tommy "
    "Mason Logan Tyler Riley Kai Zachary Joshua Elijah Gabriel Sebastian Frederick Toby Reuben Ronnie "
    "Caleb Alfred Tobias Jayden",
    // South Asian
    "Arjun Rohan Aarav Vihaan Rahul Amit Sanjay Vikram Raj Ravi Anil Deepak Harjit Jaspal Manjit "
    "Sandeep Kiran Nikhil Dev Aryan Krish Ishaan Sunil Gurdeep",
    // Muslim
    "Muhammad Mohammed Ahmed Ali Omar Yusuf Ibrahim Hamza Bilal Imran Tariq Abdullah Hassan Hussein "
    "Khalid Zakaria Idris Ismail Mustafa Abdi Abdirahman Faisal Shahid Rayyan Ayaan Zayn",
    // African
    "Chidi Emeka Oluwaseun Adebayo Tunde Kwame Kofi Kwabena Yaw Obinna Chinedu Femi Segun Babajide "
    "Ikenna Uche",
    // East European
    "Jakub Kacper Szymon Mateusz Piotr Tomasz Krzysztof Łukasz Andrei Mihai Ion Alexandru Marius "
    "Dawid Marek Paweł",
    // South European
    "João Tiago Rafael Diogo Pedro Miguel Luca Marco Alessandro Javier Carlos",
};

// Surnames by rank (most common first). A suffix gives the group: /s South Asian, /m Muslim,
// /a African, /e East European, /p South European, /c East Asian; none is general.
inline constexpr const char* kSurnames =
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Patel/s Khan/m Robinson Wright Thompson "
    "Evans Walker White Roberts Green Hall Wood Thomas Jackson Clarke Ahmed/m Ali/m Hussain/m Singh/s "
    "Hughes Edwards Turner Hill Moore Clark Harrison Scott Young Morris Lewis Lee Martin Cooper Ward "
    "King Baker Harris Allen James Phillips Mitchell Parker Bennett Carter Shah/s Rahman/m Campbell "
    "Murphy Kelly Anderson Bell Price Cook Morgan Bailey Collins Richardson Cox Howard Marshall "
    "Chapman Ellis Wells Webb Rogers Gray Palmer Mason Hunt Holmes Mills Owen Barnes Knight Lloyd "
    "Butler Russell Barker Fisher Stevens Jenkins Murray Dixon Harvey Graham Pearson Kaur/s Begum/m "
    "Fletcher Stewart Watson Kennedy Reid Gibson Ross Foster Powell Shaw Lawrence Simpson Rose Hunter "
    "Griffiths Saunders Fox Hamilton Payne Pearce Holland Grant Webster Atkinson Andrews Dawson "
    "Spencer Burton Matthews Walsh O'Brien O'Connor O'Neill McDonald MacDonald McCarthy Doherty Byrne "
    "Quinn Gallagher Brennan Sullivan Reilly Gill/s Sharma/s Kumar/s Mistry/s Parmar/s Chauhan/s "
    "Joshi/s Mehta/s Desai/s Gupta/s Sandhu/s Dhillon/s Bains/s Sidhu/s D'Souza/s Perera/s "
    "Fernando/s Chowdhury/m Miah/m Uddin/m Islam/m Hossain/m Akhtar/m Iqbal/m Mahmood/m Hassan/m "
    "Mohamed/m Mohammed/m Ahmad/m Abdi/m Farah/m Osman/m Warsame/m Jama/m Yusuf/m Ibrahim/m Aziz/m "
    "Malik/m Qureshi/m Butt/m Raza/m Haider/m Okafor/a Adeyemi/a Mensah/a Boateng/a Owusu/a Asante/a "
    "Okoro/a Adebayo/a Oluwole/a Eze/a Nwosu/a Afolabi/a Bello/a Ogunleye/a Appiah/a Nowak/e "
    "Wójcik/e Kaczmarek/e Mazur/e Krawczyk/e Zając/e Król/e Wieczorek/e Popescu/e Ionescu/e Popa/e "
    "Stan/e Kazlauskas/e Petrov/e Horvat/e Silva/p Santos/p Ferreira/p Pereira/p Costa/p "
    "Rodrigues/p Gomes/p Da_Silva/p Fernandes/p Garcia/p Rodriguez/p Martinez/p Lopez/p Rossi/p "
    "Russo/p Romano/p Esposito/p Wong/c Chen/c Li/c Nguyen/c Tran/c Barrett Bishop Blake Booth "
    "Bradley Brooks Burke Burns Cole Cunningham Curtis Day Dean Duncan Elliott Ferguson Ford Francis "
    "Gardner George Gordon Hart Hayes Henderson Hodgson Holt Hopkins Horton Hudson Hutchinson Jarvis "
    "Jordan Kent Lamb Lane Little Lowe Marsh Miles Moss Newman Nicholson Norris Page Parsons Perry "
    "Porter Pratt Reynolds Rhodes Rice Riley Robertson Rowe Sharp Sims Slater Stone Sutton Swift "
    "Tucker Vaughan Wade Wallace Walters Watts Weston Wheeler Whitehead Wilkinson Willis Woods Wyatt "
    "Yates Pritchard Bowen Howells Llewellyn Parry Prosser Rees Griffith Fraser Sinclair Mackenzie "
    "McLeod Munro Mackay Buchanan Cameron Drummond Ashworth Bancroft Bramley Calloway Dempsey "
    "Fairbairn Gallacher Hargreaves Illingworth Kershaw Lockwood Merriweather Nightingale Oakley "
    "Pemberton Ramsbottom Sowerby Thistlethwaite Underwood Whitworth Ackroyd Blackwood Cartwright "
    "Drinkwater Entwistle Featherstone Greenhalgh Haworth Ingram Kirkpatrick Loughlin Mulligan "
    "Nuttall Ormerod Pickering Quigley Rafferty Stott Tattersall Venables Waddington Yardley "
    "Hamilton-Smith Price-Jones Wynne-Jones Ashby-Clarke Carter-Brown Lewis-Evans";

// Nicknames and short forms: "Formal:short,short;..." (a short form may serve several names).
inline constexpr const char* kNicknames =
    "William:Bill,Will,Billy,Liam;Elizabeth:Liz,Beth,Lizzie,Betty;John:Jack,Johnny;"
    "Samuel:Sam,Sammy;Samantha:Sam,Sammie;Alexander:Alex,Sandy;Alexandra:Alex,Lexi;"
    "Christopher:Chris,Kit;Christine:Chris,Chrissie;Katherine:Kate,Katie,Kath;"
    "Catherine:Kate,Cathy,Cath;Michael:Mike,Mick,Mickey;Thomas:Tom,Tommy;Daniel:Dan,Danny;"
    "Rebecca:Becky,Becca;Jennifer:Jenny,Jen;Margaret:Maggie,Peggy,Meg;Henry:Harry,Hal;"
    "Robert:Rob,Bob,Bobby;Richard:Rick,Rich,Dick;James:Jim,Jimmy,Jamie;Joseph:Joe,Joey;"
    "Edward:Ed,Eddie,Ted;Anthony:Tony,Ant;Benjamin:Ben,Benji;Matthew:Matt;Nicholas:Nick,Nicky;"
    "Jonathan:Jon,Jonny;Patrick:Paddy,Pat;Charlotte:Charlie,Lottie;Victoria:Vicky,Tori;"
    "Jessica:Jess,Jessie;Abigail:Abbie,Abby;Eleanor:Ellie,Nell;Isabella:Bella,Izzy;"
    "Gabriel:Gabe;Frederick:Fred,Freddie;Muhammad:Mo;Mohammed:Mo;Oliver:Ollie;Alfred:Alfie,Alf;"
    "Theodore:Theo,Teddy;Zachary:Zach;Joshua:Josh;Susan:Sue,Susie;Deborah:Debbie,Deb;"
    "Patricia:Pat,Trish;Amanda:Mandy;Stephanie:Steph;Philip:Phil;Stephen:Steve;Steven:Steve;"
    "Andrew:Andy,Drew;Gregory:Greg;Timothy:Tim;Kenneth:Ken,Kenny;Ronald:Ron,Ronnie;"
    "Josephine:Jo,Josie;Joanne:Jo;Joanna:Jo;Natalie:Nat;Caroline:Caro;Jacqueline:Jackie;"
    "Terence:Terry;Abdirahman:Abdi;Oluwaseun:Seun;Babajide:Jide;"
    "Katarzyna:Kasia;Małgorzata:Gosia;Alexandru:Alex;Sebastian:Seb;Tobias:Toby;Nathan:Nate;"
    "Florence:Flo;Matilda:Tilly;Isabelle:Izzy;Amelia:Millie;Eliza:Liza;Olivia:Liv;"
    "Gurdeep:Deep;Mateusz:Mati;Adebayo:Bayo;Temitope:Tope;Oluwole:Wole;Funmilayo:Funmi";

// Street names and types.
inline constexpr const char* kStreets =
    "Station Church Park Victoria Albert Queen's King's Mill Elm Oak Cedar Willow Chestnut Beech "
    "Maple Holly Rose Grange Manor Priory Abbey Chapel Market Bridge Canal River Cromwell Wellington "
    "Nelson Clarendon Cambridge Oxford Richmond Windsor Stanley Alexandra Vicarage Orchard Meadow "
    "Brook Highfield Fairfield Springfield Westbourne Ashburn Lonsdale Belmont Sutherland Lancaster "
    "Percy Sterndale Askew Ravenscourt Bramber Delaford Coverdale Greyhound Lillie Dalling Rylett "
    "Loftus Bassein Cathnor Wormholt Blythe Lena Sinclair Irving Godolphin Tabor Stamford Carnwath "
    "Bishop's Wandsworth Harrow Elgin Portobello Tavistock Lancefield Kilburn Marylands Fernhead";
inline constexpr const char* kStreetTypes =
    "Road Road Road Street Street Avenue Grove Gardens Close Crescent Place Lane Terrace Way Square "
    "Mews Walk";
inline constexpr const char* kBlocks =
    "Beaumont Carlton Wren Ashdown Kingsley Hawthorn Lyndhurst Brunel Faraday Darwin Fleming Nightingale "
    "Seacole Pankhurst Attlee Bevan Mandela Tolpuddle Sherwood Kestrel Merlin Heron Falcon Swallow "
    "Linnet Osprey Marlowe Chaucer Milton Shelley";
inline constexpr const char* kBlockTypes = "House House Court Mansions Lodge Point Tower";

// Postcode districts with a locality name and a weight. Tri-borough districts dominate; a few
// elsewhere in London and England appear for people who moved. Every UK outward-code format is
// represented: A9 (W6), A99 (W12), AA9 (SW6), AA99 (SW10), A9A (W1U), AA9A (SW1V).
struct District {
  const char* outward;
  const char* locality;
  int weight;      // as a current address
  int move_weight; // as an address someone moved to
};
inline constexpr District kDistricts[] = {
    {"W6", "Hammersmith", 60, 10},         {"W12", "Shepherd's Bush", 60, 10},
    {"W14", "West Kensington", 40, 8},     {"SW6", "Fulham", 60, 10},
    {"SW10", "West Brompton", 25, 5},      {"SW3", "Chelsea", 20, 4},
    {"SW5", "Earl's Court", 20, 4},        {"SW7", "South Kensington", 12, 3},
    {"W8", "Kensington", 20, 4},           {"W11", "Notting Hill", 35, 6},
    {"W10", "North Kensington", 45, 8},    {"W2", "Bayswater", 35, 6},
    {"W9", "Maida Vale", 35, 6},           {"NW8", "St John's Wood", 15, 3},
    {"SW1V", "Pimlico", 20, 4},            {"SW1P", "Westminster", 10, 2},
    {"SW1W", "Belgravia", 5, 1},           {"W1U", "Marylebone", 8, 2},
    {"W1H", "Marylebone", 6, 2},           {"W1K", "Mayfair", 3, 1},
    {"WC2H", "Covent Garden", 4, 1},       {"NW10", "Harlesden", 12, 10},
    {"NW6", "Kilburn", 10, 8},             {"W3", "Acton", 8, 8},
    {"W4", "Chiswick", 6, 6},              {"SE1", "Southwark", 4, 6},
    {"E1", "Whitechapel", 3, 6},           {"E14", "Poplar", 2, 5},
    {"N1", "Islington", 2, 5},             {"SE15", "Peckham", 2, 6},
    {"E17", "Walthamstow", 1, 5},          {"CR0", "Croydon", 2, 8},
    {"HA0", "Wembley", 2, 7},              {"UB3", "Hayes", 2, 6},
    {"TW3", "Hounslow", 2, 6},             {"M14", "Manchester", 1, 4},
    {"B10", "Birmingham", 1, 4},           {"LS8", "Leeds", 1, 3},
    {"BS5", "Bristol", 1, 3},              {"L8", "Liverpool", 1, 3},
};

// Letters allowed in the last two places of an inward code (never C I K M O V).
inline constexpr const char* kInwardLetters = "ABDEFGHJLNPQRSTUWXYZ";

// Lower-case QWERTY neighbours of each letter a..z, for realistic substitution typos.
inline constexpr const char* kKeyNeighbours[26] = {
    "qwsz", "vghn", "xdfv", "serfcx", "wsdr", "drtgvc", "ftyhbv", "gyujnb", "ujko", "huikmn",
    "jiolm", "kop", "njk", "bhjm", "iklp", "ol", "wa", "edft", "awedxz", "rfgy", "yhji", "cfgb",
    "qase", "zsdc", "tghu", "asx"};

inline constexpr const char* kSaints =
    "Mary's John's Peter's Paul's Stephen's Luke's Anne's Augustine's Thomas's Joseph's Michael's "
    "George's Clement's Barnabas's";

}  // namespace synth
